// Resolve hook registered by bench/dist.mjs: a module under src/ resolves to its
// compiled twin under dist/src/ (.ts -> .js).
let src = '';
let dist = '';

export function initialize(data) {
  src = data.src;
  dist = data.dist;
}

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.startsWith(src) && r.url.endsWith('.ts')) {
    return { ...r, url: dist + r.url.slice(src.length, -3) + '.js', format: 'module' };
  }
  return r;
}
