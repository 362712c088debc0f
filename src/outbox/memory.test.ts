import { outboxConformance } from '../../test/conformance/outbox.js';
import { createMemoryBackend } from './memory.js';

outboxConformance('memory', async (retention) => createMemoryBackend(retention));
