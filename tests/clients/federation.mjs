// Tearsheet as an Apollo Federation v2 subgraph, proven with Apollo's own libraries:
//   node federation.mjs http://127.0.0.1:8000/graphql
// 1. composes Tearsheet's `_service { sdl }` with a small "notes" subgraph that extends
//    BacktestRun (@apollo/composition); any error, or a hint about types, fails;
// 2. runs @apollo/gateway over both (notes in-process, Tearsheet over HTTP) and a query
//    that starts in notes and needs `_entities` from Tearsheet for the rest of each run.
import { composeServices } from '@apollo/composition';
import { ApolloGateway, LocalGraphQLDataSource, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';

const url = process.argv[2];
if (!url) {
  console.error('usage: node federation.mjs <tearsheet graphql URL>');
  process.exit(2);
}

function fail(message, detail) {
  console.error(`FAIL: ${message}`);
  if (detail !== undefined) console.error(typeof detail === 'string' ? detail : JSON.stringify(detail, null, 2));
  process.exit(1);
}

async function post(query, variables = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) fail(`${query} answered ${response.status}`, body);
  return body.data;
}

const sdl = (await post('{ _service { sdl } }'))._service.sdl;
const runs = (await post('{ backtestRuns(first: 3) { nodes { id strategyName metrics { sharpeRatio } } } }'))
  .backtestRuns.nodes;
if (runs.length < 2) fail('Tearsheet needs a few runs for this check', runs);

// The second subgraph: notes that researchers attach to runs, keyed like Tearsheet's runs.
const notesTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
  type BacktestRun @key(fields: "id") {
    id: ID!
    notes: String
  }
  type Query {
    "Runs that have notes (they live in Tearsheet; only the notes live here)."
    annotatedRuns: [BacktestRun!]!
  }
`);
const notes = new Map(runs.map((run, i) => [run.id, `note ${i} on ${run.id}`]));
const notesSchema = buildSubgraphSchema({
  typeDefs: notesTypeDefs,
  resolvers: {
    Query: { annotatedRuns: () => [...notes.keys()].map((id) => ({ id })) },
    BacktestRun: {
      __resolveReference: (ref) => ({ id: ref.id, notes: notes.get(ref.id) ?? null }),
      notes: (run) => notes.get(run.id) ?? null,
    },
  },
});

const composed = composeServices([
  { name: 'tearsheet', typeDefs: parse(sdl), url },
  { name: 'notes', typeDefs: notesTypeDefs, url: 'http://notes.invalid/graphql' },
]);
if (composed.errors?.length) fail('composition failed', composed.errors.map((e) => e.message).join('\n'));
const typeHints = (composed.hints ?? []).filter((h) => /TYPE/.test(h.definition.code));
if (typeHints.length) fail('composition hints about types', typeHints.map((h) => `${h.definition.code}: ${h.message}`).join('\n'));
console.log(`composed: ${composed.hints?.length ?? 0} hints, none about types`);

// Record what the gateway sends Tearsheet, to see `_entities` used.
const sentToTearsheet = [];
const gateway = new ApolloGateway({
  supergraphSdl: composed.supergraphSdl,
  buildService({ name, url: serviceUrl }) {
    if (name === 'notes') return new LocalGraphQLDataSource(notesSchema);
    return new (class extends RemoteGraphQLDataSource {
      willSendRequest({ request }) {
        sentToTearsheet.push(request.query);
      }
    })({ url: serviceUrl });
  },
});
const server = new ApolloServer({ gateway });
await server.start();
const result = await server.executeOperation({
  query: `{ annotatedRuns { id notes strategyName metrics { sharpeRatio } } }`,
});
await server.stop();

const single = result.body.kind === 'single' ? result.body.singleResult : null;
if (!single || single.errors) fail('the gateway query failed', single ?? result.body);
const got = single.data.annotatedRuns;
for (const run of runs) {
  const merged = got.find((r) => r.id === run.id);
  if (!merged) fail(`run ${run.id} missing from the gateway's answer`, got);
  if (merged.notes !== notes.get(run.id)) fail(`notes of ${run.id} wrong`, merged);
  if (merged.strategyName !== run.strategyName) fail(`strategyName of ${run.id} (from Tearsheet) wrong`, merged);
  if (JSON.stringify(merged.metrics) !== JSON.stringify(run.metrics)) fail(`metrics of ${run.id} wrong`, merged);
}
const entityCalls = sentToTearsheet.filter((q) => q.includes('_entities'));
if (entityCalls.length !== 1) fail(`expected one _entities call to Tearsheet, saw ${entityCalls.length}`, sentToTearsheet);
console.log(`gateway: ${got.length} runs merged from notes and Tearsheet through one _entities call`);
