export * from './coerce.ts';
export * from './error-info.ts';
export * from './grpc.ts';
export * from './outcomes.ts';
export * from './retry.ts';
