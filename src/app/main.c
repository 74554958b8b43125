/* main.c: the bourse server. Runs on the main thread. */
#include <stdio.h>

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("bourse %s\n", BOURSE_VERSION);
  return 0;
}
