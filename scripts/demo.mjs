#!/usr/bin/env node
// The local demo: replication between two local registries. It is built with
// the copy engine (packages/build-worker); until then it says what it will do.
console.log(`ecr-replicate demo
  Not built yet. Once the copy engine lands, this starts two local registries
  (the destination behind Basic auth like ECR), pushes a multi-arch image with a
  signature to the source, replicates it and prints the digests on both sides.`);
