// The one module that names the vendored libraries (web/vendor/, written by
// scripts/vendor_web.py): the rest of the client imports them from here, so a new version
// or another library touches this file only. Templates are htm tagged templates, parsed
// without eval, so the page's policy needs no 'unsafe-eval'.
import { Component, Fragment, h, render } from "../../vendor/preact.js";
import {
  useCallback,
  useEffect,
  useId,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from "../../vendor/preact-hooks.js";
import htm from "../../vendor/htm.js";
import { batch, computed, effect, signal, untracked } from "../../vendor/signals.js";

export const html = htm.bind(h);
export {
  batch,
  Component,
  computed,
  effect,
  Fragment,
  render,
  signal,
  untracked,
  useCallback,
  useEffect,
  useId,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
};
