/** Amazon ECR plug-ins for the OCI client; every AWS SDK client here loads on first use (src/sdk.ts). */
export * from './token';
export * from './destination-secret';
export * from './endpoint';
export * from './tag-removal';
export * from './repositories';
export * from './create-repository';
