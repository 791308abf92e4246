// Checks an email's HTML against caniemail.com's data (doiuse-email) for the clients digest
// promises to support, and fails on any error that allow.json does not list with a reason.
//
//   node tools/email-check/check.mjs FILE.html [--count]
//
// --count prints the number of errors and exits 0 (to measure another template the same way).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { doIUseEmail } from "doiuse-email";

export const CLIENTS = ["outlook.windows", "outlook.outlook-com", "gmail.*", "apple-mail.*"];

const here = dirname(fileURLToPath(import.meta.url));
const [file, flag] = process.argv.slice(2);
if (!file) {
  console.error("usage: node check.mjs FILE.html [--count]");
  process.exit(2);
}
const result = doIUseEmail(readFileSync(file, "utf8"), { emailClients: CLIENTS });
const errors = result.errors ?? [];
const distinct = new Set(errors).size;
if (flag === "--count") {
  console.log(`${file}: ${errors.length} errors (${distinct} distinct) for ${CLIENTS.join(", ")}`);
  for (const error of errors) console.log(`  ${error}`);
  process.exit(0);
}
const allowed = JSON.parse(readFileSync(join(here, "allow.json"), "utf8"));
const unlisted = errors.filter((error) => !Object.hasOwn(allowed, error));
for (const error of new Set(unlisted)) console.error(`${file}: not in allow.json: ${error}`);
console.log(
  `${file}: ${errors.length} caniemail errors (${distinct} distinct), ` +
    `${errors.length - unlisted.length} in allow.json, ${unlisted.length} not`,
);
process.exit(unlisted.length ? 1 : 0);
