/** An error as a page: the status, code and message the HTTP boundary's errorResponse decided, shown as text. */
import type { Context } from "hono";
import type { ErrorBody } from "../../protocol/mod.ts";
import type { Answer } from "../http/error_response.ts";
import type { Caller } from "./caller.ts";
import { Layout } from "./layout.tsx";

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Not signed in",
  403: "Not allowed",
  404: "Not found",
  413: "Too large",
  503: "Unavailable",
};

export async function errorPage(
  c: Context,
  { answer, caller }: { answer: Answer; caller: Caller | null },
): Promise<Response> {
  const { error } = JSON.parse(answer.body) as ErrorBody;
  const title = TITLES[answer.status] ?? "Error";
  return await c.html(
    <Layout title={title} caller={caller}>
      <h1>{title}</h1>
      <p class="error" data-code={error.code}>{error.message}</p>
      {answer.status === 401 ? <a href="/sign-in">Sign in</a> : <a href="/">Back to the jobs</a>}
    </Layout>,
    answer.status as 400,
  );
}
