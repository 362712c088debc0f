import { open, type FileHandle } from 'node:fs/promises';
import {
  NotConnectedError,
  RetryableError,
  SinkStoppedError,
  errorMessage,
  type ComponentContext,
  type Message,
  type Sink,
} from '../../src/sdk/index.js';
import { formatMessage } from './format.js';
import type { LogSinkConfig } from './spec.js';

export interface LogStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Writes each message as one JSON line; one write per batch. */
export class LogSink implements Sink {
  private file: FileHandle | undefined;
  private stream: NodeJS.WritableStream | undefined;
  private connected = false;
  private streamError: Error | undefined;
  private readonly onStreamError = (error: Error): void => {
    this.streamError = error;
  };

  constructor(
    private readonly config: LogSinkConfig,
    private readonly ctx: ComponentContext,
    private readonly streams: LogStreams = { stdout: process.stdout, stderr: process.stderr },
  ) {}

  async connect(_signal: AbortSignal): Promise<void> {
    if (this.connected) return;
    const { output } = this.config;
    if (output === 'stdout' || output === 'stderr') {
      this.stream = this.streams[output];
      // Without a listener an EPIPE (reader gone) would crash the process instead of failing the write.
      this.stream.on('error', this.onStreamError);
    } else if (output !== 'logger') {
      try {
        this.file = await open(output, 'a');
      } catch (error) {
        throw new SinkStoppedError(`log: cannot open ${output} for appending: ${errorMessage(error)}`, {
          cause: error,
        });
      }
    }
    this.connected = true;
    this.ctx.setState('connected');
  }

  async write(batch: Message[], _signal: AbortSignal): Promise<void> {
    if (!this.connected) throw new NotConnectedError('log sink is not connected');
    if (batch.length === 0) return;
    if (this.config.output === 'logger') return this.log(batch);
    let text = '';
    for (const message of batch) text += formatMessage(message, this.config.fields) + '\n';
    if (this.file) return this.writeFile(this.file, text);
    if (this.stream) return this.writeStream(this.stream, text);
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    this.stream?.off('error', this.onStreamError);
    this.stream = undefined;
    const file = this.file;
    this.file = undefined;
    await file?.close();
    this.ctx.setState('stopped');
  }

  private log(batch: Message[]): void {
    const logger = this.ctx.logger;
    const level = this.config.level;
    for (const message of batch) {
      // Parsed back from the safe line, so bytes and cycles reach the logger as plain JSON.
      const value: unknown = JSON.parse(formatMessage(message, this.config.fields));
      logger[level](this.config.fields === 'payload' ? { payload: value } : { message: value }, 'message');
    }
  }

  private async writeFile(file: FileHandle, text: string): Promise<void> {
    try {
      await file.appendFile(text);
      if (this.config.fsync) await file.datasync();
    } catch (error) {
      throw new RetryableError(`log: writing ${this.config.output} failed: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  private writeStream(stream: NodeJS.WritableStream, text: string): Promise<void> {
    if (this.streamError) return Promise.reject(this.stopped(this.streamError));
    return new Promise((resolve, reject) => {
      // The callback runs once the chunk is handed to the OS (at once for files and pipes on Linux).
      stream.write(text, (error) => (error ? reject(this.stopped(error)) : resolve()));
    });
  }

  private stopped(error: Error): Error {
    return new SinkStoppedError(`log: ${this.config.output} is not writable: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}
