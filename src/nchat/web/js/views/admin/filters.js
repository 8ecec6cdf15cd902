// What the admin lists share: the words typed in a search field, passed on once typing
// pauses, and the pages of a list under its filters.
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

// One list under its filters: the first page whenever they change, the next on `more()`.
// `fetchPage(filters, cursor)` answers {[key]: [...], next_cursor}; a page asked for under
// other filters is dropped when it arrives.
export function usePages(fetchPage, filters, key, describe = (caught) => caught.message) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const shown = useRef(filters);
  shown.current = filters;

  useEffect(() => {
    let current = true;
    setList(null);
    setError(null);
    fetchPage(filters, null).then(
      (page) => current && setList(page),
      (caught) => current && setError(describe(caught)),
    );
    return () => {
      current = false;
    };
  }, [filters]);

  async function more() {
    const asked = filters;
    setLoadingMore(true);
    try {
      const page = await fetchPage(asked, list.next_cursor);
      if (shown.current !== asked) return;
      setList((now) => ({ [key]: [...now[key], ...page[key]], next_cursor: page.next_cursor }));
    } catch (caught) {
      if (shown.current === asked) setError(describe(caught));
    } finally {
      setLoadingMore(false);
    }
  }

  return { list, setList, error, loadingMore, more };
}
