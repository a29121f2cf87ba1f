import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The per-user root: `$BOT_BOTTLE_HOME`, else `~/.bot-bottle`. */
export function botBottleHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.BOT_BOTTLE_HOME;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  const home = env.HOME;
  return join(home !== undefined && home !== '' ? home : homedir(), '.bot-bottle');
}

export const REPO_CONFIG_DIR = '.bot-bottle';
export const JSON_MANIFEST = 'bot-bottle.json';
export const SETTINGS_FILE = 'settings.yml';

export function settingsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(botBottleHome(env), SETTINGS_FILE);
}
