import {
  autocomplete,
  confirm,
  isCancel,
  multiselect,
  password,
  select,
  text,
} from '@clack/prompts';
import { UsageError } from '../errors.js';
import { ANSI_COLORS } from '../plan/schema.js';
import { fuzzyMatch } from './fuzzy.js';

/**
 * The interactive questions `start` may ask. Only ever used when stdin and
 * stdout are terminals: the prompt library hangs on a closed stdin.
 */
export interface Ui {
  pickAgent(agents: readonly { name: string; hint: string }[]): Promise<string>;
  pickBottles(bottles: readonly string[], preselected: readonly string[]): Promise<string[]>;
  labelAndColor(defaultLabel: string): Promise<{ label: string; color: string | undefined }>;
  confirm(message: string): Promise<boolean>;
  secret(question: string): Promise<string>;
}

function answered<T>(v: T): Exclude<T, symbol> {
  if (isCancel(v)) throw new UsageError('cancelled; nothing was created');
  return v as Exclude<T, symbol>;
}

export const clackUi: Ui = {
  async pickAgent(agents) {
    return answered(
      await autocomplete({
        message: 'Agent (type to filter)',
        options: agents.map((a) => ({ value: a.name, label: a.name, hint: a.hint })),
        filter: (search, option) => fuzzyMatch(search, option.label ?? option.value),
        maxItems: 10,
      }),
    );
  },
  async pickBottles(bottles, preselected) {
    return answered(
      await multiselect({
        message: 'Bottles to compose (space toggles, enter accepts; later wins)',
        options: bottles.map((b) => ({ value: b, label: b })),
        initialValues: [...preselected],
        required: true,
      }),
    );
  },
  async labelAndColor(defaultLabel) {
    const label = answered(
      await text({
        message: 'Label (names the bottle, its containers and its git branch)',
        defaultValue: defaultLabel,
        placeholder: defaultLabel,
      }),
    );
    const color = answered(
      await select<string>({
        message: 'Color',
        options: [
          { value: '', label: 'none' },
          ...ANSI_COLORS.map((c) => ({ value: c, label: c })),
        ],
        initialValue: '',
      }),
    );
    return {
      label: label.trim() === '' ? defaultLabel : label,
      color: color === '' ? undefined : color,
    };
  },
  async confirm(message) {
    return answered(await confirm({ message, initialValue: false }));
  },
  async secret(question) {
    return answered(await password({ message: question }));
  },
};
