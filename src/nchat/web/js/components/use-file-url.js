// A file's bytes shown by a component (an image's thumbnail or preview) as an object URL,
// held while the component shows it (js/files.js keeps one per file for all who show it).
import { acquire, cachedUrl, release } from "../files.js";
import { useEffect, useState } from "../lib/html.js";

// An object URL of the file at `path` (a FileOut's url, thumbnail_url or preview_url) while
// the component shows it: {url, failed}. Null path: nothing to fetch.
export function useFileUrl(path) {
  const [state, setState] = useState(() => ({ url: cachedUrl(path), failed: false }));
  useEffect(() => {
    if (!path) return undefined;
    let live = true;
    const entry = acquire(path);
    if (entry.url) setState({ url: entry.url, failed: false });
    else {
      setState({ url: null, failed: false });
      entry.promise.then(
        (url) => live && setState({ url, failed: false }),
        () => live && setState({ url: null, failed: true }),
      );
    }
    return () => {
      live = false;
      release(path, entry);
    };
  }, [path]);
  return state;
}

