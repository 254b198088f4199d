import { restoreSuite } from "./helpers/restore-suite.js";

restoreSuite("3.5");
