// writetmp: reports whether /tmp/x can be created.
#include <stdio.h>
int main(){FILE*f=fopen("/tmp/x","w"); printf("%s\n", f?"writable":"read-only"); return 0;}
