import { Writable } from 'node:stream';
import { createMessage } from '../../src/sdk/index.js';
import { sinkConformance } from '../../test/conformance/sink.js';
import { LogSink, logSinkConfig } from './index.js';

/**
 * The shared sink suite on the log sink writing to a stream (as it writes to stdout): the stream
 * keeps every line it is given, and holding acceptance holds its write callbacks, which is what
 * the sink waits for before `write()` resolves.
 */
sinkConformance(
  'log (to a stream)',
  () => {
    const lines: string[] = [];
    let held: (() => void)[] | undefined;
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        if (held) held.push(() => callback());
        else callback();
      },
    });
    return {
      create: (ctx) =>
        new LogSink(logSinkConfig.parse({ output: 'stdout' }), ctx, { stdout: stream, stderr: stream }),
      messages: (values) =>
        values.map((v, i) =>
          createMessage({ id: `log-${i}`, payload: { v }, meta: {}, time: 1_700_000_000_000 }),
        ),
      received: () =>
        Promise.resolve(lines.map((l) => String((JSON.parse(l) as { payload: { v: string } }).payload.v))),
      heldDataVisible: true,
      holdAcceptance: () => {
        held = [];
        return Promise.resolve();
      },
      releaseAcceptance: () => {
        const callbacks = held ?? [];
        held = undefined;
        for (const c of callbacks) c();
        return Promise.resolve();
      },
    };
  },
  {
    noOutage:
      'a process stream does not go away and come back: a broken pipe stops the sink (SinkStoppedError)',
  },
);
