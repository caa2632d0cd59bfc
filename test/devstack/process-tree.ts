import { readdirSync, readFileSync } from 'node:fs';

/** One process as /proc shows it; `start` (clock ticks since boot) tells a reused pid apart. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  start: string;
  cmdline: string;
}

function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself hold spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    if (fields[0] === 'Z') return undefined; // a zombie has already exited
    return {
      pid,
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
      start: fields[19] ?? '',
      cmdline,
    };
  } catch {
    return undefined; // gone while we looked
  }
}

/** Every live process on the machine. */
export function allProcesses(): ProcessInfo[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => readProcess(Number(name)) ?? []);
}

/**
 * `root` and all its descendants, whatever process group they moved to (the emulators, the bridge
 * and every task lead groups of their own).
 */
export function processTree(root: number): ProcessInfo[] {
  const processes = allProcesses();
  const tree = processes.filter((p) => p.pid === root);
  for (let i = 0; i < tree.length; i++) {
    const parent = tree[i];
    if (parent) tree.push(...processes.filter((p) => p.ppid === parent.pid));
  }
  return tree;
}

/**
 * What is still running of `recorded`: the same processes (pid and start time), and anything in
 * their process groups (a grandchild started after the snapshot, say).
 */
export function survivors(recorded: readonly ProcessInfo[]): ProcessInfo[] {
  const groups = new Set(recorded.map((p) => p.pgid));
  const same = new Set(recorded.map((p) => `${p.pid}/${p.start}`));
  return allProcesses().filter((p) => same.has(`${p.pid}/${p.start}`) || groups.has(p.pgid));
}
