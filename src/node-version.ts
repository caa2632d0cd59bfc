/**
 * The oldest Node.js jobbridge runs on, as `engines.node` in package.json says. This module is
 * evaluated before anything else of the CLI, so it must stay plain enough for any old Node to
 * parse (no newer syntax), and it must not import anything.
 */
export const SUPPORTED_NODE_MAJOR = 24;

/**
 * The one-line refusal for a Node.js older than the supported one, or undefined when `version`
 * (like `process.versions.node`, `20.20.2`) is supported.
 */
export function nodeVersionRefusal(version: string): string | undefined {
  const major = Number(version.split('.')[0]);
  if (Number.isInteger(major) && major >= SUPPORTED_NODE_MAJOR) return undefined;
  return (
    `jobbridge: this is Node.js ${version}; jobbridge needs Node.js ${SUPPORTED_NODE_MAJOR} or later. ` +
    `Run it through npm (npm start, npm test, npx jobbridge …), which uses the Node.js ${SUPPORTED_NODE_MAJOR} ` +
    `that npm ci puts in node_modules/.bin, or install Node.js ${SUPPORTED_NODE_MAJOR} from https://nodejs.org.`
  );
}
