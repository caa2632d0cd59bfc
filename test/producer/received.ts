import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';

/** Messages arriving on a streaming-pull subscription, with a wait on a condition. */
export interface Received {
  messages: Message[];
  until(test: (messages: Message[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Creates `subscription` on `topic` and collects (and acks) everything it receives. */
export async function receive(
  pubsub: PubSub,
  topic: string,
  subscription: string,
): Promise<Received> {
  const [sub]: [Subscription, ...unknown[]] = await pubsub
    .topic(topic)
    .createSubscription(subscription);
  const messages: Message[] = [];
  const checks = new Set<() => void>();
  sub.on('message', (message: Message) => {
    message.ack();
    messages.push(message);
    checks.forEach((c) => c());
  });
  return {
    messages,
    until(test, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          checks.delete(check);
          reject(new Error(`timed out with ${messages.length} messages`));
        }, timeoutMs);
        const check = (): void => {
          if (!test(messages)) return;
          clearTimeout(timer);
          checks.delete(check);
          resolve();
        };
        checks.add(check);
        check();
      });
    },
    async close() {
      await sub.close();
    },
  };
}
