export * from './coerce.ts';
export * from './grpc.ts';
export * from './outcomes.ts';
export * from './retry.ts';
