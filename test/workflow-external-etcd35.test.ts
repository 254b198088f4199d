import { workflowSuite } from "./helpers/workflow-suite.js";

workflowSuite("3.5", "external");
