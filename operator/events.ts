import type { Logger } from 'pino';
import { R, type KubeClient } from './kube.js';
import type { EventSink } from './reconciler.js';
import { API_VERSION, FIELD_MANAGER, KIND } from './spec.js';

/** Message length kept in an Event (the API server refuses much longer ones). */
const EVENT_MESSAGE_CHARS_MAX = 1024;

/** Records core/v1 Events on the LedgerNetwork; a failure to record is logged, never fatal. */
export function eventRecorder(client: KubeClient, instance: string, log: Logger): EventSink {
  return async (network, type, reason, message) => {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const { name, namespace, uid } = network.metadata;
    try {
      await client.create(R.events, namespace, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${name}.`, namespace } as { name?: string; namespace: string },
        involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, uid },
        type,
        reason,
        message: message.slice(0, EVENT_MESSAGE_CHARS_MAX),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (e) {
      log.warn({ err: e, reason }, 'could not record an event');
    }
    log.info({ ledgerNetwork: `${namespace}/${name}`, event: reason, type, message }, 'event');
  };
}
