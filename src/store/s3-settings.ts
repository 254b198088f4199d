/** Where an S3 store lives and how to reach it, as the CLI sends it to an agent and a pushed schedule keeps it. */
import { z } from "zod";

export const S3Settings = z.object({
  endpoint: z.string().min(1),
  bucket: z.string().min(1),
  region: z.string().optional(),
  folder: z.string().optional(),
  accessKey: z.string().optional(),
  secretKey: z.string().optional(),
  sessionToken: z.string().optional(),
  customCaPem: z.string().optional(),
  addressing: z.enum(["auto", "path", "virtual"]).optional(),
  proxy: z.string().optional(),
});
export type S3Settings = z.infer<typeof S3Settings>;
