// Runs a list of MCP requests with the official TypeScript SDK
// (@modelcontextprotocol/sdk from npm) and prints one JSON document with
// their results, for the Rust tests to check.
//
// Usage: MCP_SDK_DIR=<npm prefix holding the SDK> NODE_EXTRA_CA_CERTS=<CA PEM>
//        node client.mjs PLAN.json
// The plan is {"url", "headers", "protocolVersion"?, "steps"} as for
// client.py. The SDK offers 2025-11-25 in `initialize`; "protocolVersion"
// replaces that offer (e.g. "2025-06-18") in the message the SDK sends, and
// the SDK then speaks whatever the server answered.
// Output: {"protocol_version", "results": [{"ok": RESULT} | {"error": TEXT}]}
// or {"connect_error": TEXT}.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const sdk = join(process.env.MCP_SDK_DIR ?? '.', 'node_modules/@modelcontextprotocol/sdk/dist/esm');
const load = (module) => import(pathToFileURL(join(sdk, module)).href);
const { Client } = await load('client/index.js');
const { StreamableHTTPClientTransport } = await load('client/streamableHttp.js');

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function describe(error) {
  if (error && typeof error.code === 'number') {
    return { code: error.code, message: error.message };
  }
  return String(error?.message ?? error);
}

async function step(client, s) {
  switch (s.op) {
    case 'list_tools':
      return client.listTools();
    case 'list_resources':
      return client.listResources();
    case 'read_resource':
      return client.readResource({ uri: s.uri });
    case 'call':
      return client.callTool({ name: s.name, arguments: s.arguments ?? {} });
    default:
      throw new Error(`unknown op ${s.op}`);
  }
}

const transport = new StreamableHTTPClientTransport(new URL(plan.url), {
  requestInit: { headers: plan.headers ?? {} },
});
if (plan.protocolVersion) {
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (message.method === 'initialize') {
      message = { ...message, params: { ...message.params, protocolVersion: plan.protocolVersion } };
    }
    return send(message, options);
  };
}
const client = new Client({ name: 'rustymail-tests', version: '1.0.0' });
const output = { results: [] };
try {
  await client.connect(transport);
  output.protocol_version = transport.protocolVersion;
  for (const s of plan.steps) {
    try {
      output.results.push({ ok: await step(client, s) });
    } catch (error) {
      output.results.push({ error: describe(error) });
    }
  }
  await client.close();
} catch (error) {
  output.connect_error = describe(error);
}
console.log(JSON.stringify(output));
