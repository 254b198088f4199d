import { restoreElsewhereSuite, restoreSuite } from "./helpers/restore-suite.js";

restoreSuite("3.4");
restoreElsewhereSuite("3.4");
