// GraphiQL in headless Chromium with every request that does not go to Tearsheet cut off:
//   node graphiql.mjs http://127.0.0.1:8000 [screenshot-dir] [write-token]
// Opens /graphql, runs the page's example query and checks that the result pane shows
// runs. With a write token, it then runs a mutation without a token (refused), enters
// the token in the Headers editor, and runs it again (accepted). On failure it saves a
// screenshot (default: ./graphiql-failure.png here).
// First it checks that the assets the server embeds are the pinned npm packages' files.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const base = process.argv[2];
const shots = process.argv[3] ?? dirname(fileURLToPath(import.meta.url));
const token = process.argv[4];
if (!base) {
  console.error('usage: node graphiql.mjs <server base URL> [screenshot dir]');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const assets = join(here, '../../api/assets/graphiql');
const pinned = {
  'graphiql.min.js': 'graphiql/graphiql.min.js',
  'graphiql.min.css': 'graphiql/graphiql.min.css',
  'react.production.min.js': 'react/umd/react.production.min.js',
  'react-dom.production.min.js': 'react-dom/umd/react-dom.production.min.js',
};
for (const [file, source] of Object.entries(pinned)) {
  if (!readFileSync(join(assets, file)).equals(readFileSync(join(here, 'node_modules', source)))) {
    console.error(`FAIL: api/assets/graphiql/${file} is not node_modules/${source}: run scripts/refresh-graphiql.sh`);
    process.exit(1);
  }
}

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const page = await browser.newPage();
const origin = new URL(base).origin;
const blocked = [];
// The network is cut off from anything but the server.
await page.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
  blocked.push(url);
  return route.abort('internetdisconnected');
});
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));

let ok = false;
try {
  await page.goto(`${base}/graphql`, { waitUntil: 'load' });
  await page.locator('.graphiql-execute-button').click({ timeout: 20_000 });
  // The result pane is a read-only editor; its text is the response JSON.
  const result = page.locator('.result-window');
  await result.getByText('"strategyName"').first().waitFor({ timeout: 20_000 });
  const text = await result.innerText();
  if (!/"backtestRuns"/.test(text) || !/"id": "[0-9a-f-]{36}"/.test(text)) throw new Error(`the result pane shows no runs:\n${text.slice(0, 500)}`);
  if (/"errors"/.test(text)) throw new Error(`the example query failed:\n${text.slice(0, 800)}`);
  if (blocked.length) throw new Error(`the page asked for resources elsewhere: ${blocked.join(', ')}`);
  if (pageErrors.length) throw new Error(`the page threw: ${pageErrors.join('; ')}`);
  console.log('GraphiQL ran the example query offline; the result pane shows runs');

  if (token) {
    // CodeMirror 5 keeps its editor on the wrapper element: setting text through it
    // replaces the whole document.
    const setEditor = (selector, text) =>
      page.evaluate(([sel, value]) => document.querySelector(`${sel} .CodeMirror`).CodeMirror.setValue(value), [selector, text]);
    // Runs the query editor's operation; returns the result pane once it shows a new
    // response (it is empty while the request is in flight).
    const run = async () => {
      const before = await page.locator('.result-window').innerText();
      await page.locator('.graphiql-execute-button').click();
      await page
        .waitForFunction(
          (old) => {
            const text = document.querySelector('.result-window')?.innerText ?? '';
            return text !== old && /"(data|errors)"/.test(text);
          },
          before,
          { timeout: 20_000 },
        )
        .catch(() => {});
      return page.locator('.result-window').innerText();
    };
    await setEditor('.graphiql-query-editor', 'mutation Delete { deleteBacktestRun(id: "00000000-0000-7000-8000-000000000000") { deletedId } }');
    // GraphiQL re-reads the document's operations shortly after an edit; until then it
    // sends the old operation name.
    await page.waitForTimeout(500);
    let refused = await run();
    if (/Unknown operation named/.test(refused)) {
      await page.waitForTimeout(2000);
      refused = await run();
    }
    if (!/UNAUTHENTICATED/.test(refused)) throw new Error(`a mutation without a token was not refused:\n${refused}`);
    await page.getByRole('button', { name: 'Headers' }).click();
    // Entered as a user pastes it (typed braces would be auto-closed).
    await page.locator('.graphiql-editor-tool .CodeMirror:visible').click();
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));
    const accepted = await run();
    if (!/"deletedId": null/.test(accepted) || /"errors"/.test(accepted)) {
      throw new Error(`the mutation with the token from the Headers editor failed:\n${accepted}`);
    }
    console.log('GraphiQL sent the Authorization header entered in its Headers editor');
  }
  ok = true;
} catch (e) {
  const shot = join(shots, 'graphiql-failure.png');
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`FAIL: ${e.message}\nscreenshot: ${shot}`);
  if (blocked.length) console.error(`blocked: ${blocked.join(', ')}`);
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join('; ')}`);
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
