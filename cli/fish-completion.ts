/**
 * The fish completion script for `egg` (fish is the shell @oclif/plugin-autocomplete does not
 * cover): command and topic names word by word, then each command's flags, with their
 * summaries, and the values of flags that take one of a list.
 */
import type { Config } from '@oclif/core';

/** A fish script completing every visible command of `config`, its topics and its flags. */
export function fishCompletion(config: Config): string {
  const bin = config.bin;
  const commands = config.commands.filter((command) => !command.hidden);
  const lines = [
    `# ${bin} completion for fish, written by \`${bin} autocomplete\`.`,
    `function __${bin}_words --description 'The words after ${bin} on the command line, without flags'`,
    '    set -l words (commandline -opc)',
    '    string match -v -- "-*" $words[2..-1]',
    'end',
    `function __${bin}_at --description 'True when the words so far are exactly the arguments'`,
    `    set -l words (__${bin}_words)`,
    '    test "$words" = "$argv"',
    'end',
    `function __${bin}_in --description 'True when the words so far start with the arguments'`,
    `    set -l words (__${bin}_words)`,
    '    test "$words" = "$argv"; or string match -q -- "$argv *" "$words"',
    'end',
  ];
  const named = new Set<string>();
  for (const { id } of commands) {
    const words = id.split(':');
    for (let depth = 0; depth < words.length; depth++) {
      const name = words.slice(0, depth + 1).join(':');
      if (named.has(name)) continue;
      named.add(name);
      const summary =
        describe(
          commands.find((command) => command.id === name),
          bin,
        ) ||
        describe(
          config.topics.find((topic) => topic.name === name),
          bin,
        );
      const at = words.slice(0, depth).join(' ');
      lines.push(
        `complete -c ${bin} -f -n ${quote(`__${bin}_at ${at}`.trimEnd())} -a ${quote(words[depth] ?? '')} -d ${quote(summary)}`,
      );
    }
  }
  for (const command of commands) {
    const at = quote(`__${bin}_in ${command.id.split(':').join(' ')}`);
    for (const [name, flag] of Object.entries(command.flags)) {
      if (flag.hidden) continue;
      const short = flag.char === undefined ? '' : ` -s ${flag.char}`;
      const value =
        flag.type === 'option' ? (flag.options ? ` -x -a ${quote(flag.options.join(' '))}` : ' -r') : '';
      lines.push(`complete -c ${bin} -n ${at} -l ${name}${short}${value} -d ${quote(describe(flag, bin))}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The first line of a summary or description, with oclif's one template filled in. */
function describe(
  item: { summary?: string | undefined; description?: string | undefined } | undefined,
  bin: string,
): string {
  const text = (item?.summary ?? item?.description ?? '').split('\n', 1)[0] ?? '';
  return text.replaceAll('<%= config.bin %>', bin);
}

/** `text` as one single-quoted fish word. */
function quote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
