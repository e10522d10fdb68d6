#include <stdio.h>
int main(void)
{
	puts("ring-bench: not written yet");
	return 0;
}
