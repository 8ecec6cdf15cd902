// The words typed in an admin list's search field, passed on once typing pauses (not on the
// first render, which shows the list as it is).
import { useEffect, useRef, useState } from "../../lib/html.js";

const PAUSE_MS = 250;

export function useTypedQuery(filters, onChange) {
  const [q, setQ] = useState(filters.q);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return undefined;
    }
    const timer = setTimeout(() => onChange({ ...filters, q: q.trim() }), PAUSE_MS);
    return () => clearTimeout(timer);
  }, [q]);
  return [q, setQ];
}
