const AGENT_PID_FILE = '/tmp/bot-bottle-agent.pid';

/**
 * The agent's argv, recording its pid so `bot-bottle stop` can end it
 * gracefully. The user-supplied parts stay positional parameters of a fixed
 * script; nothing is spliced into the shell text.
 */
export function wrapAgentArgv(argv: readonly string[]): string[] {
  return ['sh', '-c', `echo $$ > ${AGENT_PID_FILE}; exec "$@"`, 'bot-bottle-agent', ...argv];
}

export const STOP_AGENT_ARGV = ['sh', '-c', `kill -TERM "$(cat ${AGENT_PID_FILE})"`];
