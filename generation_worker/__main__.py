from chassis.runner import main
from generation_worker.app import create_app

if __name__ == "__main__":
    main("generation_worker", create_app)
