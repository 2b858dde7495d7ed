// Regenerates tests/data/mcp-corpus.json by running SE Ranking's official MCP server
// (github.com/seranking/seo-data-api-mcp-server) against a local capture server and
// recording every HTTP request its Data API tools send. Not run by cargo; see docs/mcp-corpus.md.
//
// usage: node tests/data/mcp-corpus-capture.mjs SERVER_DIR COMMIT READ_ON > tests/data/mcp-corpus.json
//   SERVER_DIR: a checkout of the server at COMMIT, after `npm install` and `npx tsc` (has dist/)
//   READ_ON:    the date to record (YYYY-MM-DD)
// It exits non-zero when a registered DATA_ tool has no case below, when a case names a tool the
// server does not have, or when a case sends no request (bad arguments): update CASES and rerun.

import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

const [serverDir, commit, readOn] = process.argv.slice(2);
if (!serverDir || !commit || !readOn) {
  console.error('usage: node mcp-corpus-capture.mjs SERVER_DIR COMMIT READ_ON');
  process.exit(2);
}

// ---- capture server ------------------------------------------------------------------------
let sink = null;
const capture = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (sink) sink.push({ method: req.method, url: req.url, headers: req.headers, body });
    const path = req.url.split('?')[0];
    let reply = {};
    if (req.method === 'POST' && path === '/v1/serp/classic/tasks') reply = [{ id: 987654321, query: 'seo tools' }];
    else if (path.startsWith('/v1/serp/classic/tasks')) reply = { status: 'complete', items: [] };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply));
  });
});
await new Promise((r) => capture.listen(0, '127.0.0.1', r));
process.env.DATA_API_BASE = `http://127.0.0.1:${capture.address().port}`;
process.env.DATA_API_TOKEN = '00000000-0000-4000-8000-000000000000';

const sdk = (p) => import(pathToFileURL(join(serverDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm', p)).href);
const { McpServer } = await sdk('server/mcp.js');
const { Client } = await sdk('client/index.js');
const { InMemoryTransport } = await sdk('inMemory.js');
const { SeoApiMcpServer } = await import(pathToFileURL(join(serverDir, 'dist/seo-api-mcp-server.js')).href);

// ---- which tool lives in which file; which are registered ---------------------------------
const toolFiles = {}; // tool name -> { file, cls }
function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.js')) toolFiles[p] = true;
  }
}
walk(join(serverDir, 'dist/tools/data'));
const byName = {};
for (const p of Object.keys(toolFiles)) {
  const mod = await import(pathToFileURL(p).href);
  for (const cls of Object.values(mod)) {
    if (typeof cls !== 'function' || typeof cls.prototype?.registerTool !== 'function') continue;
    const names = [];
    new cls().register({ registerTool: (n) => names.push(n), sendLoggingMessage: async () => {} });
    const src = relative(serverDir, p).replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
    for (const n of names) byName[n] = { file: src, cls };
  }
}

async function connect(setup) {
  const server = new McpServer({ name: 'capture', version: '0' });
  setup(server);
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 'capture', version: '0' });
  await client.connect(b);
  return client;
}
const official = await connect((s) => new SeoApiMcpServer(s).init());
const registered = new Set((await official.listTools()).tools.map((t) => t.name).filter((n) => n.startsWith('DATA_')));
const unregisteredNames = Object.keys(byName).filter((n) => !registered.has(n));
const extra = await connect((s) => unregisteredNames.forEach((n) => new byName[n].cls().register(s)));

// ---- cases ---------------------------------------------------------------------------------
const T3 = ['example.com', 'example.org', 'example.net'];
const KW3 = ['seo tools', 'rank tracker', 'backlink checker'];
const AUDIT = 412345;
const CASES = [
  // backlinks
  ['getAllBacklinks', 'defaults', { target: 'example.com' }, 'limit default 100 (1-10000) is sent; no paging.'],
  ['getAllBacklinks', 'url-xml-filters', { target: 'https://example.com/blog/', mode: 'url', limit: 500, per_domain: 1, output: 'xml', order_by: 'inlink_rank', domain_inlink_rank_from: 30, url_from_filter: '', anchor_filter: 'seo', nofollow_filter: 'dofollow_only' }, 'output=xml chosen; url_from_filter "" is dropped (empty strings are never sent); *_filter_mode defaults are sent even without their filter.'],
  ['getBacklinksAnchors', 'defaults', { target: 'example.com' }, 'limit default 100 (1-10000).'],
  ['getBacklinksAnchors', 'xml-limit', { target: 'example.com', mode: 'domain', limit: 1000, output: 'xml' }, 'output=xml chosen.'],
  ['getBacklinksAuthority', 'defaults', { target: 'example.com' }, 'single target only (schema is a string); output default json is sent.'],
  ['getBacklinksAuthority', 'xml', { target: 'https://example.com/pricing', output: 'xml' }, 'output=xml chosen.'],
  ['getBacklinksIndexedPages', 'defaults', { target: 'example.com' }, 'limit default 100 (1-10000).'],
  ['getBacklinksRefDomains', 'defaults', { target: 'example.com' }, 'limit default 100 (1-10000).'],
  ['getBacklinksRefDomains', 'limit-max', { target: 'example.com', order_by: 'domain_inlink_rank', limit: 10000 }, 'limit at its schema maximum 10000.'],
  ['getBacklinksSummary', 'one-target', { target: 'example.com' }, 'target may be a string or an array.'],
  ['getBacklinksSummary', 'three-targets', { target: T3 }, 'array target: repeated target= keys, no brackets, one GET.'],
  ['getBacklinksSummary', 'three-targets-xml', { target: T3, mode: 'domain', output: 'xml' }, 'array target with output=xml.'],
  ['getBacklinksMetrics', 'one-target', { target: 'example.com' }, 'target may be a string or an array.'],
  ['getBacklinksMetrics', 'three-targets', { target: T3 }, 'array target: repeated target= keys.'],
  ['getBacklinksRaw', 'defaults', { target: 'example.com' }, 'limit default 10000 (1-100000); first page has no next.'],
  ['getBacklinksRaw', 'next-page', { target: 'example.com', mode: 'domain', limit: 100000, next: 'eyJvZmZzZXQiOjEwMDAwfQ' }, 'cursor page: next= is sent; limit at its maximum 100000.'],
  ['getBacklinksCount', 'one-target', { target: 'example.com' }, 'target may be a string or an array.'],
  ['getBacklinksCount', 'three-targets', { target: T3 }, 'array target: repeated target= keys.'],
  ['listNewLostBacklinks', 'defaults', { target: 'example.com' }, 'no date_from/date_to sent; the schema text says they default to yesterday/today (server side).'],
  ['listNewLostBacklinks', 'range', { target: 'example.com', new_lost_type: 'new', date_from: '2026-10-01', date_to: '2026-10-31', limit: 1000 }, 'explicit 31-day range.'],
  ['getNewLostBacklinksCount', 'defaults', { target: 'example.com' }, 'no dates sent (described defaults: yesterday..today); one row per day of the range.'],
  ['getNewLostBacklinksCount', 'range', { target: 'example.com', date_from: '2026-10-01', date_to: '2026-10-31', output: 'xml' }, '31-day range, output=xml.'],
  ['getTotalRefDomainsCount', 'one-target', { target: 'example.com' }, 'target may be a string or an array.'],
  ['getTotalRefDomainsCount', 'three-targets', { target: T3 }, 'array target: repeated target= keys.'],
  ['getCumulativeBacklinksHistory', 'range', { target: 'https://example.com/blog/', mode: 'url', date_from: '2026-10-01', date_to: '2026-10-31' }, 'one row per day of the range (tool description). No output parameter.'],
  ['getReferringIps', 'defaults', { target: 'example.com' }, 'limit default 100 (1-10000). No output parameter.'],
  ['getReferringIpsCount', 'one-target', { target: 'example.com' }, 'schema accepts a single string only (its text mentions batching via POST, but the tool has no array or POST form).'],
  ['getReferringSubnetsCount', 'one-target', { target: 'example.com' }, 'single string target only.'],
  ['getDistributionOfDomainAuthority', 'defaults', { target: 'example.com' }, 'histogramMode is sent camelCase, as spelled in the tool.'],
  ['getPageAuthority', 'one-target', { target: 'https://example.com/pricing' }, 'no defaults added.'],
  ['getPageAuthorityHistory', 'defaults', { target: 'https://example.com/pricing' }, 'granularity default by_day is sent; no dates.'],
  ['getPageAuthorityHistory', 'range-monthly', { target: 'https://example.com/pricing', date_from: '2026-01-01', date_to: '2026-10-31', granularity: 'by_month' }, 'one row per period of date_from..date_to by granularity (inferred).'],
  ['getDomainAuthority', 'one-target', { target: 'example.com' }, 'no defaults added.'],
  ['getDomainAuthorityHistory', 'range', { target: 'example.com', date_from: '2026-10-01', date_to: '2026-10-31' }, 'granularity default by_day is sent after the dates.'],
  ['listNewLostReferringDomains', 'defaults', { target: 'example.com' }, 'order_by and limit defaults sent; no dates.'],
  ['listNewLostReferringDomains', 'range', { target: 'example.com', new_lost_type: 'lost', date_from: '2026-10-01', date_to: '2026-10-31', limit: 500 }, 'explicit range.'],
  ['getNewLostRefDomainsCount', 'range', { target: 'example.com', date_from: '2026-10-01', date_to: '2026-10-31' }, 'one row per day of the range (tool description).'],
  ['exportBacklinksData', 'defaults', { target: 'example.com' }, 'creates an async export task (GET).'],
  ['getBacklinksExportStatus', 'poll', { task_id: '1_878619' }, 'status poll; task_id is a string like "1_878619".'],
  // domain
  ['getDomainOverviewDatabases', 'defaults', { source: 'us', domain: 'example.com' }, 'with_subdomains default 1 is sent.'],
  ['getDomainOverviewDatabases', 'url', { source: 'uk', domain: 'example.com', with_subdomains: 0, url: 'https://example.com/blog/' }, 'url given (the tool text says domain is then ignored).'],
  ['getDomainOverviewWorldwide', 'defaults', { domain: 'example.com' }, 'currency USD, fields "price, traffic, keywords" (with spaces) and show_zones_list 0 are sent by default.'],
  ['getDomainOverviewWorldwide', 'zones', { domain: 'example.com', currency: 'EUR', fields: 'traffic,keywords,positions_tops', show_zones_list: 1 }, 'per-country breakdown asked.'],
  ['getDomainOverviewHistory', 'defaults', { source: 'us', domain: 'example.com' }, 'type organic and with_subdomains 1 sent by default.'],
  ['getDomainKeywords', 'defaults', { source: 'us', domain: 'example.com' }, 'page 1, limit 100 (max 1000) and with_subdomains=true (boolean as text) are sent.'],
  ['getDomainKeywords', 'filters-page2', { source: 'us', domain: 'example.com', type: 'organic', order_field: 'volume', page: 2, limit: 1000, filter_volume_from: 100, filter_intents: 'C,T', filter_serp_features_2_mode: 'with_link', filter_serp_features_2_value: 'sge' }, 'filter_X_from -> filter[X][from]; the serp_features_2 pair is appended last as filter[serp_features_2][mode] and filter[serp_features_2][value][0].'],
  ['getDomainAdsByKeyword', 'defaults', { source: 'us', keyword: 'seo tools' }, 'same path as getDomainAdsByDomain, keyword= instead of domain=; page 1, limit 100 (max 100).'],
  ['getDomainAdsByDomain', 'defaults', { source: 'us', domain: 'example.com' }, 'page 1, limit 100 (max 100).'],
  ['getDomainAdsByDomain', 'period-page2', { source: 'us', domain: 'example.com', from: '2026-01', to: '2026-10', page: 2, limit: 50 }, 'YYYY-MM period.'],
  ['getDomainCompetitors', 'defaults', { source: 'us', domain: 'example.com' }, 'type organic and stats 0 sent; no limit parameter exists.'],
  ['getDomainCompetitors', 'adv-stats', { source: 'us', domain: 'example.com', type: 'adv', stats: 1 }, 'paid competitors with stats.'],
  ['getDomainKeywordsComparison', 'defaults', { source: 'us', domain: 'example.com', compare: 'competitor.com' }, 'type, page 1, limit 100 (max 1000), diff 0, order_field, order_type sent by default.'],
  ['getDomainKeywordsComparison', 'url-gap', { source: 'us', url: 'https://example.com/blog/', compare: 'https://competitor.com/blog/', diff: 1, page: 3, limit: 1000, cols: 'keyword,volume,position' }, 'url form, keyword gap, page 3.'],
  // keywords
  ['getSimilarKeywords', 'defaults', { source: 'us', keyword: 'seo tools' }, 'limit 100, offset 0, sort_order desc, history_trend=false sent by default (no limit maximum in the schema).'],
  ['getSimilarKeywords', 'filters', { source: 'us', keyword: 'seo tools', limit: 500, offset: 500, sort: 'volume', history_trend: true, filter_volume_from: 100, filter_difficulty_to: 40, filter_serp_features: 'people_also_ask,video', filter_multi_keyword_included: 'free,online' }, 'filter_X_from/to -> filter[X][from|to]; filter_X -> filter[X].'],
  ['getRelatedKeywords', 'defaults', { source: 'us', keyword: 'seo tools' }, 'limit 100, offset 0, sort_order desc, history_trend=false sent by default.'],
  ['getLongTailKeywords', 'defaults', { source: 'us', keyword: 'seo tools' }, 'no defaults at all: limit/offset are sent only when given.'],
  ['getLongTailKeywords', 'limit', { source: 'us', keyword: 'seo tools', limit: 200, offset: 200, filter_intents: 'I' }, 'explicit limit/offset.'],
  ['getKeywordQuestions', 'defaults', { source: 'us', keyword: 'seo tools' }, 'limit 100, offset 0, sort_order desc, history_trend=false sent by default.'],
  ['exportKeywords', 'one-keyword', { source: 'us', keywords: ['seo tools'] }, 'source in the query; keywords[] (with brackets) plus sort/sort_order/cols defaults in a multipart body.'],
  ['exportKeywords', 'three-keywords', { source: 'us', keywords: KW3 }, 'keywords[] repeated once per keyword (max 5000 per call).'],
  ['exportKeywords', 'three-keywords-sorted', { source: 'uk', keywords: KW3, sort: 'volume', sort_order: 'asc', cols: 'keyword,volume' }, 'explicit sort and cols.'],
  // website audit
  ['createStandardAudit', 'domain-only', { domain: 'example.com' }, 'JSON body; no settings sent, so max_pages is the API default.'],
  ['createStandardAudit', 'settings', { domain: 'example.com', title: 'Example audit', settings: { max_pages: 5000, max_depth: 10, check_robots: 1 } }, 'settings.max_pages 1-300000 drives the crawl size.'],
  ['createAdvancedAudit', 'settings', { domain: 'example.com', settings: { max_pages: 1000, source_sitemap: 1 } }, 'JSON body, JS-rendering audit.'],
  ['updateAuditTitle', 'patch', { audit_id: AUDIT, title: 'Example audit (renamed)' }, 'PATCH: audit_id in the query, {"title"} as JSON body.'],
  ['listAudits', 'defaults', {}, 'limit 100 and offset 0 sent by default.'],
  ['getAuditReport', 'one', { audit_id: AUDIT }, ''],
  ['getAuditStatus', 'one', { audit_id: AUDIT }, ''],
  ['getCrawledPages', 'defaults', { audit_id: AUDIT }, 'limit 100 and offset 0 sent by default.'],
  ['getAuditPagesByIssue', 'defaults', { audit_id: AUDIT, code: 'title_duplicate' }, 'limit 100 and offset 0 sent by default.'],
  ['getIssuesByUrl', 'url', { audit_id: AUDIT, url: 'https://example.com/pricing' }, ''],
  ['getFoundLinks', 'defaults', { audit_id: AUDIT }, 'page_type all sent by default; no limit default.'],
  ['getFoundLinks', 'filters', { audit_id: AUDIT, page_type: 'external', limit: 500, filter: [{ param: 'status', value: 404 }, { param: 'nofollow', value: 1, type: 'and' }] }, 'filter array -> filter[i][param], filter[i][value], filter[i][type].'],
  ['getAuditHistory', 'one', { audit_id: AUDIT, date: '2026-10-15' }, ''],
  ['deleteAudit', 'delete', { audit_id: AUDIT }, 'DELETE with audit_id in the query, no body.'],
  ['recheckAudit', 'standard', { audit_id: AUDIT, type: 'standard' }, 'POST, audit_id in the query, empty multipart body; type picks the path.'],
  ['recheckAudit', 'advanced', { audit_id: AUDIT, type: 'advanced' }, 'advanced recheck.'],
  // serp
  ['getSerpHtmlDump', 'one', { task_id: 987654321 }, ''],
  ['getSerpLocations', 'one', { q: 'London', country_code: 'gb' }, ''],
  ['getSerpResults', 'one-query', { language_code: 'en', location_id: 2840, query: ['seo tools'], poll_interval_ms: 1000, max_wait_ms: 10000 }, 'step 1 creates the task (POST JSON); later steps poll every poll_interval_ms (default 5000) up to max_wait_ms (default 300000) until status is not "processing". poll_interval_ms/max_wait_ms/result_type are never sent.'],
  ['getSerpResults', 'three-queries', { language_code: 'en', location_id: 2840, query: KW3, tag: 'corpus', poll_interval_ms: 1000, max_wait_ms: 10000 }, 'query is a JSON array in the body (3 keywords, one task call); only the first returned task id is polled.'],
  ['getSerpResults', 'advanced', { language_code: 'en', location_id: 2840, query: ['seo tools'], result_type: 'advanced', poll_interval_ms: 1000, max_wait_ms: 10000 }, "result_type advanced polls tasks/results_advanced ('costs 10 credits' per the schema text)."],
  ['getSerpTaskAdvancedResults', 'one', { task_id: 987654321 }, "'Costs 10 credits for the 1st call.' (tool description)"],
  ['getSerpTaskResults', 'one', { task_id: 987654321 }, 'same path as the task-creating POST, but GET with task_id.'],
  ['getSerpTasks', 'list', {}, 'no parameters: the client builds "...tasks?" but fetch drops the empty query, so no "?" reaches the wire (raw_query null).'],
  // ai search
  ['getAiDiscoverBrand', 'defaults', { target: 'example.com', source: 'us' }, 'scope default domain is sent (before source, in schema order).'],
  ['getAiOverview', 'aggregated', { target: 'example.com', source: 'us' }, 'no engine: aggregated/time-series path; scope default base_domain.'],
  ['getAiOverview', 'by-engine', { target: 'example.com', source: 'us', engine: 'chatgpt', brand: 'Example' }, 'engine given: by-engine/time-series path.'],
  ['getAiOverviewLeaderboard', 'three-competitors', { primary: { target: 'example.com', brand: 'Example' }, competitors: [{ target: 'example.org', brand: 'Example Org' }, { target: 'example.net', brand: 'Example Net' }, { target: 'competitor.com', brand: 'Competitor' }], source: 'us', engines: ['chatgpt', 'perplexity', 'ai-overview'] }, 'POST JSON; competitors 1-10; scope only when given.'],
  ['getAiPromptsByBrand', 'defaults', { engine: 'chatgpt', brand: 'Example', source: 'us' }, 'sort volume, sort_order desc, limit 100 (1-1000), offset 0 sent by default.'],
  ['getAiPromptsByBrand', 'filters', { engine: 'perplexity', brand: 'Example', source: 'us', limit: 1000, offset: 1000, filter_volume_from: 10, filter_multi_keyword_included: '[[{"type":"contains","value":"seo"}]]' }, 'filter_X -> filter[X]; the JSON filter is sent as given (URL-encoded once by the client).'],
  ['getAiPromptsByTarget', 'defaults', { engine: 'chatgpt', target: 'example.com', source: 'us' }, 'scope base_domain, sort volume, sort_order desc, limit 20 (no maximum), offset 0 sent by default.'],
  // present in src/tools/data but not registered by SeoApiMcpServer at this commit
  ['getDomainPages', 'defaults', { target: 'example.com', scope: 'base_domain', source: 'us' }, 'limit 100 (max 1000) sent by default.'],
  ['getDomainSubdomains', 'defaults', { target: 'example.com', scope: 'domain', source: 'us', limit: 1000, filter_traffic_sum_from: 100 }, 'filter_X_from -> filter[X][from].'],
  ['getUrlOverviewWorldwide', 'one', { url: 'https://example.com/blog/', fields: 'keywords,traffic' }, 'no defaults.'],
];

// ---- run -----------------------------------------------------------------------------------
const errors = [];
for (const n of registered) if (!CASES.some((c) => `DATA_${c[0]}` === n)) errors.push(`no case for registered tool ${n}`);
const requests = [];
const unregistered = [];
for (const [short, id, args, note] of CASES) {
  const name = `DATA_${short}`;
  const tool = byName[name];
  if (!tool) { errors.push(`case ${short}/${id}: no such tool`); continue; }
  const client = registered.has(name) ? official : extra;
  sink = [];
  const result = await client.callTool({ name, arguments: args });
  const got = sink;
  sink = null;
  if (got.length === 0) { errors.push(`case ${short}/${id} sent nothing: ${JSON.stringify(result.content)}`); continue; }
  let step = 0;
  for (const r of got) {
    step += 1;
    const q = r.url.indexOf('?');
    const rawQuery = q < 0 ? null : r.url.slice(q + 1);
    const ct = r.headers['content-type'] ?? null;
    let contentType = null;
    let body = null;
    if (ct && ct.startsWith('multipart/form-data')) {
      contentType = 'multipart/form-data';
      const fd = await new Response(r.body, { headers: { 'content-type': ct } }).formData();
      body = { multipart: [...fd.entries()].map(([k, v]) => [k, String(v)]) };
    } else if (ct && ct.startsWith('application/json')) {
      contentType = 'application/json';
      body = JSON.parse(r.body.toString('utf8'));
    } else if (ct) {
      contentType = ct;
      body = r.body.toString('utf8');
    }
    const entry = {
      tool: name,
      case: `${short}/${id}`,
      step,
      file: tool.file,
      method: r.method,
      path: q < 0 ? r.url : r.url.slice(0, q),
      query: rawQuery === null ? [] : [...new URLSearchParams(rawQuery)],
      raw_query: rawQuery,
      content_type: contentType,
      body,
      arguments: args,
      notes: [
        registered.has(name) ? '' : 'NOT registered by SeoApiMcpServer at this commit (file exists, README lists it): the official server never sends this.',
        got.length > 1 ? `request ${step} of ${got.length} sent by one tool call.` : '',
        note,
      ].filter(Boolean).join(' '),
    };
    (registered.has(name) ? requests : unregistered).push(entry);
  }
}
capture.close();
if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}
const pkg = (p) => JSON.parse(readFileSync(join(serverDir, p, 'package.json'), 'utf8')).version;
const out = {
  source: { repo: 'seranking/seo-data-api-mcp-server', commit, read_on: readOn },
  captured_with: {
    how: 'tests/data/mcp-corpus-capture.mjs: the built server, called through an in-memory MCP client, DATA_API_BASE pointed at a local capture server',
    server_version: pkg('.'),
    mcp_sdk: pkg('node_modules/@modelcontextprotocol/sdk'),
    zod: pkg('node_modules/zod'),
    node: process.version,
  },
  wire: {
    base: 'DATA_API_BASE, default https://api.seranking.com',
    auth: 'header "Authorization: Token <DATA_API_TOKEN>" on every request; no apikey query parameter',
    query_encoding: 'URLSearchParams: keys in tool-schema order with defaults filled in; arrays as repeated keys without brackets; undefined, null and "" omitted; booleans as true/false; space as +',
    multipart: 'FormData (boundary varies per request); arrays as repeated fields',
  },
  requests,
  unregistered,
};
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
process.exit(0);
