// Lets a bare `node` run the TypeScript sources, as the storm's worker processes do:
// Node 24 strips types itself, and this maps the `.js` specifiers of our ESM imports to
// the `.ts` files beside them (what tsc's "nodenext" resolution does at compile time).
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !specifier.startsWith('.') || !specifier.endsWith('.js'))
        throw error;
      return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
    }
  },
});
