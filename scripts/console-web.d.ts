export function buildConsoleWeb(): Promise<{ js: string; css: string }>;
