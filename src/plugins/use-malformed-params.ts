import { createGraphQLError, isPromise, type Plugin } from 'graphql-yoga';

/** What the client is told: the parameter that is not JSON is one of these two. */
const MESSAGE = 'The "variables" or "extensions" parameter is not valid JSON.';

/**
 * A GET, or a form POST, whose `variables` or `extensions` parameter is not JSON is refused with
 * HTTP 400 and BAD_REQUEST, as Yoga refuses the other malformed parameters, instead of failing as
 * an unexpected error (HTTP 500, logged as a fault): Yoga's parser of URL-encoded parameters lets
 * `JSON.parse`'s SyntaxError through. It wraps whichever parser Yoga chose for the request, so it
 * must come after Yoga's own parsers (any plugin given to Yoga does). A JSON body Yoga refuses
 * itself, and the fast lane never takes a GET or a form POST: this hook of HTTP framing leaves the
 * lane on.
 */
export function useMalformedParams(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (requestParser === undefined) return;
      setRequestParser((request) => {
        let parsed: ReturnType<typeof requestParser>;
        try {
          parsed = requestParser(request);
        } catch (error) {
          throw refusalOf(error);
        }
        return isPromise(parsed) ? parsed.catch((error: unknown) => Promise.reject(refusalOf(error))) : parsed;
      });
    },
  };
}

/** A SyntaxError of `JSON.parse` as the client's error; anything else as it is. */
function refusalOf(error: unknown): unknown {
  return error instanceof SyntaxError ? createGraphQLError(MESSAGE, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } }) : error;
}
