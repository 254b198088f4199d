// s3rver ships no type declarations: the module is untyped here, and s3server.ts states the surface it uses.
declare module "s3rver";
