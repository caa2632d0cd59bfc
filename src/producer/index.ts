export { publishJob, type JobRequestInput, type PublishedJob } from './publish-job.ts';
export { uuidv7 } from './request-id.ts';
export { ensureJobTopology, ensureTopic, type JobTopologyOptions } from './topology.ts';
