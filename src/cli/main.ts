#!/usr/bin/env node
console.log("lifeboat");
