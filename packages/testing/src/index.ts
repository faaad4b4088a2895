export * from './local-dynamodb';
export * from './output';
export * from './lambda';
export * from './registry';
export * from './destination-secret';
