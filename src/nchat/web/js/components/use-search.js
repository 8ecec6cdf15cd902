// Results of `find(q)` as one types: the first at once, later ones after a short pause, an
// answer to an older query never shown over a newer one.
import { useEffect } from "../lib/html.js";

const DEBOUNCE_MS = 200;

export function useSearch(q, find, setFound, setError) {
  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      find(q.trim())
        .then((list) => current && (setFound(list), setError(null)))
        .catch((caught) => current && setError(caught.message));
    }, q ? DEBOUNCE_MS : 0);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [q]);
}
