import { getOperationAST, type DocumentNode } from 'graphql';

/**
 * What the request metrics and the access log both need of a request, noted once on its context
 * (the server context Yoga extends into the operation's) whichever plugin asks first: when its
 * parameters were read, and its operation's name.
 */

const PARAMS = Symbol('gencache.request.params');
const START = Symbol('gencache.request.start');
const DOCUMENT = Symbol('gencache.request.document');
const NAME = Symbol('gencache.request.name');

interface Tracked {
  [PARAMS]?: object;
  [START]?: number;
  [DOCUMENT]?: DocumentNode;
  [NAME]?: string | null | undefined;
}

/** In `onParams`: the start of the request, and the name its parameters give. */
export function noteParams(context: object, params: { readonly operationName?: string | null | undefined }): void {
  const tracked = context as Tracked;
  if (tracked[PARAMS] === params) return;
  tracked[PARAMS] = params;
  tracked[START] = performance.now();
  tracked[NAME] = params.operationName ?? undefined;
}

/** In `onExecute` and `onSubscribe`: the name of the operation that runs (null: it has none). */
export function noteDocument({ contextValue, document, operationName }: { contextValue: unknown; document: DocumentNode; operationName?: string | null | undefined }): void {
  const tracked = contextValue as Tracked;
  if (tracked[DOCUMENT] === document) return;
  tracked[DOCUMENT] = document;
  const operation = getOperationAST(document, operationName);
  if (operation != null) tracked[NAME] = operation.name?.value ?? null;
}

/** When the request's parameters were read (`performance.now()`); undefined if they were not. */
export const startOf = (context: unknown): number | undefined => (context as Tracked)[START];

/** The operation's name: the document's once it runs, else the parameters'; null: anonymous; undefined: not known. */
export const operationNameOf = (context: unknown): string | null | undefined => (context as Tracked)[NAME];
