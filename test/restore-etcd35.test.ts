import { restoreElsewhereSuite, restoreSuite } from "./helpers/restore-suite.js";

restoreSuite("3.5");
restoreElsewhereSuite("3.5");
