import type { GraphQLResolveInfo } from 'graphql';
import { Repeater } from 'graphql-yoga';
import type { Context } from '../context.js';
import { badUserInput, GencacheError } from '../errors.js';
import { CHAT_ROLES, type ChatMessage as GenerationChatMessage } from '../generation/generator.js';
import { MAX_MESSAGES } from '../generation/limits.js';
import type { GenerationInput as GenerationInputShape } from '../generation/request.js';
import type { CachePolicy as CachePolicyValue, GenerationChunk as GenerationChunkValue, GenerationResult, LoadOptions } from '../generation/service.js';
import { builder } from './builder.js';

export const CachePolicy = builder.enumType('CachePolicy', {
  description: 'How a request uses the result cache.',
  values: {
    CACHE_FIRST: { description: 'Serve from the cache; on a miss, generate and store. The default.' },
    CACHE_ONLY: { description: 'Never generate: a miss gives null.' },
    NETWORK_ONLY: { description: 'Always generate, then store: a refresh.' },
    NO_STORE: { description: 'Always generate, never store.' },
  } as const,
});

export const CacheStatus = builder.enumType('CacheStatus', {
  description: 'What happened to one generation of a response.',
  values: {
    HIT: { description: "Served from this instance's cache." },
    SHARED_HIT: { description: 'Served from the cache tier the instances share (Redis), and now in this instance\'s too.' },
    MISS: { description: 'This operation ran the generator.' },
    COALESCED: { description: 'Joined a generation that another operation had already started.' },
    BYPASS: { description: 'The policy skipped the cache (NETWORK_ONLY, NO_STORE) and this operation ran the generator.' },
  } as const,
});

export const ChatRole = builder.enumType('ChatRole', {
  description: 'Who speaks a chat message.',
  values: CHAT_ROLES,
});

const ChatMessageInput = builder.inputType('ChatMessageInput', {
  description: 'One message of a chat.',
  fields: (t) => ({
    role: t.field({ type: ChatRole, required: true }),
    content: t.string({ required: true }),
  }),
});

const ChatMessage = builder.objectRef<GenerationChatMessage>('ChatMessage').implement({
  description: 'One message of a chat.',
  fields: (t) => ({
    role: t.field({ type: ChatRole, resolve: (message) => message.role }),
    content: t.string({ resolve: (message) => message.content }),
  }),
});

const GenerationInput = builder.inputType('GenerationInput', {
  description:
    'What to generate: a prompt or the messages of a chat, exactly one of the two. Inputs that mean the same generation share one cache key: a prompt and a chat of that one USER message are the same generation.',
  fields: (t) => ({
    prompt: t.string({ description: 'The prompt: one USER message. Not with messages.' }),
    messages: t.field({
      type: [ChatMessageInput],
      description: `The messages of a chat, at most ${MAX_MESSAGES}, their characters in all within the prompt limit. Not with prompt.`,
    }),
    model: t.string({ description: "Defaults to the generator's default model; must be on its allow-list." }),
    parameters: t.field({
      type: 'JSON',
      description: 'A JSON object of generator-specific parameters: temperature, maxTokens, seed, size, ...',
    }),
  }),
});

export const Generation = builder.objectRef<GenerationResult>('Generation').implement({
  description: 'One generation, and how this response obtained it.',
  fields: (t) => ({
    key: t.id({ description: 'sha256 of the generator id and the canonical input.', resolve: ({ record }) => record.key }),
    prompt: t.string({
      description: 'The prompt; for a chat, the content of its last USER message (else of its last message).',
      resolve: ({ record }) => record.prompt,
    }),
    messages: t.field({
      type: [ChatMessage],
      nullable: true,
      description: 'The messages of a chat; null for a prompt, or for a chat of one USER message (the same generation as its prompt).',
      resolve: ({ record }) => record.messages ?? null,
    }),
    model: t.string({ resolve: ({ record }) => record.model }),
    parameters: t.field({
      type: 'JSON',
      nullable: true,
      description: 'The parameters with the generator defaults applied.',
      resolve: ({ record }) => record.parameters,
    }),
    output: t.string({
      description: 'What the generator produced. One response carries at most MAX_RESPONSE_BYTES of outputs; past that, RESPONSE_TOO_LARGE.',
      resolve: ({ record }, _args, context) => context.respondWith(record.output),
    }),
    contentType: t.string({
      description: 'text/plain, or e.g. image/png with base64 output.',
      resolve: ({ record }) => record.contentType,
    }),
    createdAt: t.field({ type: 'DateTime', resolve: ({ record }) => new Date(record.createdAt) }),
    generationMs: t.float({
      description: 'What the generator took when it ran.',
      resolve: ({ record }) => record.generationMs,
    }),
    promptTokens: t.int({
      nullable: true,
      description: 'Tokens of the prompt, as the generator counted them when it ran; null when it reports none.',
      resolve: ({ record }) => record.promptTokens ?? null,
    }),
    completionTokens: t.int({
      nullable: true,
      description: 'Tokens of the output, as the generator counted them when it ran; null when it reports none.',
      resolve: ({ record }) => record.completionTokens ?? null,
    }),
    cacheStatus: t.field({ type: CacheStatus, resolve: ({ status }) => status }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the cached entry expires; null when not stored or stored without expiry.',
      resolve: ({ expiresAt }) => (expiresAt === undefined ? null : new Date(expiresAt)),
    }),
  }),
});

const generationArgs = builder.args((t) => ({
  policy: t.field({ type: CachePolicy, defaultValue: 'CACHE_FIRST' }),
  ttlSeconds: t.int({ description: 'Time to live of what this request stores; 0: no expiry. Default: the cache default.' }),
}));

function loadOptions(
  policy: CachePolicyValue | null | undefined,
  ttlSeconds: number | null | undefined,
  context: Context,
): LoadOptions {
  policy ??= 'CACHE_FIRST';
  if (ttlSeconds === null || ttlSeconds === undefined) return { policy };
  const max = context.service.limits.maxTtlSeconds;
  if (ttlSeconds < 0 || ttlSeconds > max) throw badUserInput(`ttlSeconds must be from 0 to ${max}, got ${ttlSeconds}`);
  return { policy, ttlSeconds };
}

/** The response path of a field, as `a.b.0`, for `extensions.cache`. */
function responsePath(info: GraphQLResolveInfo): string {
  const keys: (string | number)[] = [];
  for (let path: GraphQLResolveInfo['path'] | undefined = info.path; path; path = path.prev) keys.push(path.key);
  return keys.reverse().join('.');
}

/** Notes a generation served at a response path in the operation's cache report. */
function report(context: Context, path: string, result: GenerationResult): void {
  (context.cacheReport ??= {})[path] = { key: result.record.key, status: result.status };
}

/** One generation; synchronous when it is a hit at hand, so that a cached query runs without a promise. */
function loadOne(
  input: GenerationInputShape,
  policy: CachePolicyValue | null | undefined,
  ttlSeconds: number | null | undefined,
  context: Context,
  info: GraphQLResolveInfo,
): GenerationResult | null | Promise<GenerationResult | null> {
  const options = loadOptions(policy, ttlSeconds, context);
  const loaded = context.load(context.service.prepare(input), options);
  const path = responsePath(info);
  if (!(loaded instanceof Promise)) {
    if (loaded !== null) report(context, path, loaded);
    return loaded;
  }
  return loaded.then((result) => {
    if (result !== null) report(context, path, result);
    return result;
  });
}

builder.queryFields((t) => ({
  generation: t.field({
    type: Generation,
    nullable: true,
    description: 'One generation. Null only under CACHE_ONLY when it is not cached.',
    args: { input: t.arg({ type: GenerationInput, required: true }), ...generationArgs },
    resolve: (_root, { input, policy, ttlSeconds }, context, info) => loadOne(input, policy, ttlSeconds, context, info),
  }),
  generations: t.field({
    type: [Generation],
    nullable: { list: false, items: true },
    description:
      'Several generations in one batch; duplicates are generated once. An item is null under CACHE_ONLY when not cached, or when its generation failed (see errors).',
    args: { inputs: t.arg({ type: [GenerationInput], required: true }), ...generationArgs },
    resolve: async (_root, { inputs, policy, ttlSeconds }, context, info) => {
      const { maxBatchSize } = context.service.limits;
      if (inputs.length > maxBatchSize) {
        throw badUserInput(`inputs has ${inputs.length} items; the limit is ${maxBatchSize}`);
      }
      const options = loadOptions(policy, ttlSeconds, context);
      const requests = inputs.map((input, index) => {
        try {
          return context.service.prepare(input);
        } catch (error) {
          if (error instanceof GencacheError) throw badUserInput(`inputs[${index}]: ${error.message}`);
          throw error;
        }
      });
      // Each item is its own result or its own Error, as DataLoader's loadMany gives them.
      const results = await Promise.all(
        requests.map((request) => {
          const loaded = context.load(request, options);
          return loaded instanceof Promise ? loaded.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))) : loaded;
        }),
      );
      const path = responsePath(info);
      results.forEach((result, index) => {
        if (result !== null && !(result instanceof Error)) report(context, `${path}.${index}`, result);
      });
      // graphql-js reports an Error in a list as that item's error, with its index in the path.
      return results as (GenerationResult | null)[];
    },
  }),
}));

builder.mutationFields((t) => ({
  generate: t.field({
    type: Generation,
    description: 'One generation, as a mutation. Under CACHE_ONLY a miss is a NOT_FOUND error.',
    args: { input: t.arg({ type: GenerationInput, required: true }), ...generationArgs },
    resolve: async (_root, { input, policy, ttlSeconds }, context, info) => {
      const result = await loadOne(input, policy, ttlSeconds, context, info);
      if (result === null) throw new GencacheError('NOT_FOUND', 'not in the cache, and the policy CACHE_ONLY forbids generating it');
      return result;
    },
  }),
}));

const GenerationChunk = builder.objectRef<GenerationChunkValue>('GenerationChunk').implement({
  description:
    'One piece of a streamed generation. The deltas of one subscription add up to the output; a subscriber that joins late gets everything produced so far as its first piece.',
  fields: (t) => ({
    key: t.id({ resolve: (chunk) => chunk.key }),
    cacheStatus: t.field({ type: CacheStatus, resolve: (chunk) => chunk.status }),
    delta: t.string({ description: 'The text that follows the previous pieces of this subscription.', resolve: (chunk) => chunk.delta }),
    index: t.int({ description: '0, 1, 2, ... for each piece of this subscription.', resolve: (chunk) => chunk.index }),
    done: t.boolean({ description: 'Whether this is the last piece.', resolve: (chunk) => chunk.result !== undefined }),
    generation: t.field({
      type: Generation,
      nullable: true,
      description: 'On the last piece: the generation, whose output the deltas add up to.',
      resolve: (chunk) => chunk.result ?? null,
    }),
  }),
});

/**
 * A stream's failure as an item, for the resolver to throw: a field error in that payload, then
 * the end. Returning it (the subscriber left) returns the stream at once.
 */
function failuresAsItems(chunks: AsyncIterableIterator<GenerationChunkValue>): AsyncIterableIterator<GenerationChunkValue | Error> {
  return new Repeater<GenerationChunkValue | Error>(async (push, stop) => {
    void stop.then(() => chunks.return?.());
    try {
      for await (const chunk of chunks) await push(chunk);
    } catch (error) {
      await push(error instanceof Error ? error : new Error(String(error)));
    }
    stop();
  });
}

builder.subscriptionFields((t) => ({
  generationStream: t.field({
    type: GenerationChunk,
    description:
      'One generation as its text comes: a hit is one piece; otherwise the pieces of the generation this subscription starts or joins (MISS, COALESCED, BYPASS as for generation), the last with done and the generation. A generation running on another instance arrives as one piece when it is done.',
    args: { input: t.arg({ type: GenerationInput, required: true }), ...generationArgs },
    subscribe: (_root, { input, policy, ttlSeconds }, context) => {
      const options = loadOptions(policy, ttlSeconds, context);
      return failuresAsItems(context.stream(context.service.prepare(input), options));
    },
    resolve: (chunk) => {
      if (chunk instanceof Error) throw chunk;
      return chunk;
    },
  }),
}));
