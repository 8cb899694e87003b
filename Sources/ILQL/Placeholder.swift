// ILQL
