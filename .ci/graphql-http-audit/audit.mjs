// GraphQL-over-HTTP conformance: runs every graphql-http server audit against a running server.
//
//   GRAPHQL_URL=http://127.0.0.1:8000/graphql GRAPHQL_TOKEN=<jwt> node audit.mjs
//
// Every request carries `Authorization: Bearer <token>`. Prints one line per audit and exits 1
// when any audit ends in `warn` or `error` (`notice` is informational and does not fail).
import { serverAudits } from 'graphql-http';

const url = process.env.GRAPHQL_URL;
const token = process.env.GRAPHQL_TOKEN;
if (!url || !token) {
  console.error('set GRAPHQL_URL (e.g. http://127.0.0.1:8000/graphql) and GRAPHQL_TOKEN (see `licensing token`)');
  process.exit(2);
}

async function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
let fatal = 0;
for (const audit of serverAudits({ url, fetchFn: fetchWithToken })) {
  let result;
  try {
    result = await audit.fn();
  } catch (err) {
    // audits throw only on fatal problems (e.g. the server is unreachable)
    fatal += 1;
    console.log(`[${audit.id}] ${audit.name}: fatal: ${err && err.message ? err.message : err}`);
    continue;
  }
  counts[result.status] = (counts[result.status] ?? 0) + 1;
  const reason = result.status === 'ok' ? '' : ` - ${result.reason}`;
  console.log(`[${result.id}] ${result.status.toUpperCase()} ${result.name}${reason}`);
}

console.log(
  `\ngraphql-http audits: ok ${counts.ok}, notice ${counts.notice}, warn ${counts.warn}, error ${counts.error}` +
    (fatal ? `, fatal ${fatal}` : ''),
);
process.exit(counts.warn || counts.error || fatal ? 1 : 0);
