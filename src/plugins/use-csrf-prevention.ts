import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { Plugin } from 'graphql-yoga';

/**
 * Yoga's CSRF prevention for POSTs: a POST whose content type a browser form or a plain `fetch`
 * can send without a CORS preflight (`application/x-www-form-urlencoded`, `multipart/form-data`,
 * `text/plain`, or none) must carry the `x-graphql-yoga-csrf` header, which a page of another
 * site cannot set without a preflight; it is refused with 403 otherwise. JSON POSTs (GraphiQL,
 * every GraphQL client) are preflighted by browsers and pass. GETs are left alone: they cannot
 * run mutations, and another site cannot read their answers.
 */
export function useCsrfPrevention(): Plugin {
  const { onRequestParse } = useCSRFPrevention();
  return {
    onRequestParse(payload) {
      if (payload.request.method === 'POST') return onRequestParse!(payload);
      return undefined;
    },
  };
}
