// tty: reports whether stdout is a terminal.
#include <stdio.h>
#include <unistd.h>
#include <sys/ioctl.h>
int main(){struct winsize w; int r=ioctl(1,TIOCGWINSZ,&w); printf("isatty=%d winsz=%d %dx%d\n",isatty(1),r,w.ws_col,w.ws_row);return 0;}
