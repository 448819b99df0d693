/**
 * The header an agent names the task it acts for with, `TASK_ID/ATTEMPT`: a task's channel calls, which
 * its agent forwards (agent/channel_socket.ts). Its own file: the client needs it without zod.
 */
export const TASK_HEADER = "x-fabric-task";
