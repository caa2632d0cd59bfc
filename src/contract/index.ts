export * from './document-id.ts';
export * from './documents.ts';
export * from './env.ts';
export * from './limits.ts';
export * from './request.ts';
export * from './states.ts';
