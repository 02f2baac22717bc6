// hog: allocates and touches memory 1 MiB at a time until malloc fails.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(){ size_t total=0; for(;;){ char*p=malloc(1<<20); if(!p){printf("enomem after %zu MiB\n", total); return 1;} memset(p,1,1<<20); total++; } }
